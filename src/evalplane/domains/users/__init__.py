"""Users of the installation: people and service-key bots."""

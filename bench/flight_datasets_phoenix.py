"""The Phoenix side of bench/flight_datasets.py: Phoenix's own client against a Phoenix server.

Runs in ``.bench-venv`` (arize-phoenix and its client), never in the server's venv. Arguments:
the Phoenix URL and the parquet file of bench/flight_datasets.py. Uploads the rows with
``Client.datasets.create_dataset(dataframe=...)`` (the client sends them as one CSV upload,
which the server stores before it answers), prints ``{"upload_s"}`` as a JSON line, waits for
a line on stdin (the caller reads the server's memory and CPU in between), then reads every
example back with ``get_dataset`` and prints ``{"read_s", "rows_read"}``.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from phoenix.client import Client


def main() -> None:
    url, source = sys.argv[1], sys.argv[2]
    client = Client(base_url=url)
    frame = pd.read_parquet(source)
    started = time.perf_counter()
    dataset = client.datasets.create_dataset(
        name="bench",
        dataframe=frame,
        input_keys=["question", "context"],
        output_keys=["answer"],
        metadata_keys=["n", "score"],
        timeout=1800,
    )
    print(json.dumps({"upload_s": time.perf_counter() - started}), flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    read = client.datasets.get_dataset(dataset=dataset.id, timeout=1800)
    rows = sum(1 for _ in read)
    print(json.dumps({"read_s": time.perf_counter() - started, "rows_read": rows}), flush=True)


if __name__ == "__main__":
    main()

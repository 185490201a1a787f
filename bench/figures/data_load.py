"""One load of the IMDB corpus in a fresh process, for ``data.data_path``:
``python -m bench.figures.data_load`` from the repository root prints one JSON line, the
seconds of its imports and of the load, and the corpus's tokens.

Only the standard library is imported before the clock starts: torch is imported on the
clock, as a training loop's process imports it too, so the import time is the loop's fixed
cost.
"""

import json
import time


def main() -> None:
    t0 = time.perf_counter()
    import torch  # noqa: F401

    from rnn_core.data.imdb import load_imdb, source_id
    from rnn_core.data.text import TextOptions, encode_corpus

    t1 = time.perf_counter()
    c = encode_corpus(None, source_id(None), TextOptions(), load_frame=load_imdb)
    t2 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "tokens": c.stats["tokens"]}))


if __name__ == "__main__":
    main()

"""Process-wide tuning shared by the API and the worker."""

import gc


def keep_out_of_full_collections() -> None:
    """Exempt what the process has built so far from the garbage collector's full passes.

    The application's code, models and schemas are some 170,000 objects that live as long as
    the process; a full collection walks them all and stops every request for 100 ms or more
    (the tail of `/v2/enqueue`'s latency in an alert storm). Frozen, they are never walked
    again; what the process allocates later is collected as before.
    """
    gc.collect()
    gc.freeze()

"""The words a trial's status is recorded with (the ``trial_status`` tag of its MLflow run, the
reports' ``status`` column, the counts a sweep prints), and a sweep's in its sidecar file.

They are what users read and filter on in MLflow, so they are plain strings.
"""

RUNNING = "running"  # started and not ended (or reopened on --resume)
FINISHED = "finished"  # trained every epoch
STOPPED_EARLY = "stopped_early"  # stopped by the scheduler at a rung
STOPPED_BY_BUDGET = "stopped_by_budget"  # stopped where it was when the time budget ran out
FAILED = "failed"  # raised (after its retries)
INTERRUPTED = "interrupted"  # the sweep stopped before it ended; --resume continues it

# a trial that reported and ended without an error: by its last epoch, by the scheduler or
# by the time budget; the trials a model can be picked from
ENDED = (FINISHED, STOPPED_EARLY, STOPPED_BY_BUDGET)
# a trial that ended for good: a resumed sweep leaves it as it is
CLOSED = (*ENDED, FAILED)

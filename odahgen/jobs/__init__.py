"""The job system: plan a dataset, run each trial's stage graph (resumable), executors."""

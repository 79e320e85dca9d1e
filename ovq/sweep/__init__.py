"""Sweeps: a grid of pipeline runs (several pipelines x dotted-path overrides), placed by an executor.

spec.py       the sweep file (pydantic, extra="forbid") and its loading
plan.py       the one code path that decides what runs: grid expansion and override validation
task.py       one run as a task (RunTask) and what it hands back (RunResult); `execute_run` runs it
executors.py  the local executor (one run after another, no Ray) and the executor protocol
ray_executor.py  the Ray executor (optional extra ovq[ray]): placement, retries, cancellation
summary.py    the sweep report document: rows, machines, Pareto front, best variant per model
render.py     its Markdown and HTML (with the accuracy-vs-throughput plot)
runner.py     the driver: plan, execute, write collected IRs and the sweep report (only the driver writes)
nightly.py    nightly pipelines fanned out through an executor
"""

"""Evaluation of articleqa on scripted test sets: format, metrics, runner, reports and the `articleqa eval` command."""

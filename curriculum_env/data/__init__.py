"""Corpora, tokenizer, windows, tasks and the candidate stream."""

from curriculum_env.data.tasks import Source, Task, builtin_tasks, resolve_task, task_from_files, task_from_texts

__all__ = ["Source", "Task", "builtin_tasks", "resolve_task", "task_from_files", "task_from_texts"]

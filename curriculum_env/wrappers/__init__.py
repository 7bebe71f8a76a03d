"""Gymnasium wrappers over CurriculumSelectEnv."""

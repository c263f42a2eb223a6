"""The hostile-input corpus: specs and command lines with the exit status and the message each
must give (see corpus.py), run by tests/test_hostile.py."""

"""Helpers the tests share (one copy each): git in a test's own identity (support.git), waiting in a Pilot and a
user data dir of the test's own (support.pilot). Run-folder builders live in fake_engine.py and
compare_fixtures.py; the engine's stub parts and a run built from them (support.stubs)."""

"""Test suite for vms_desktop."""

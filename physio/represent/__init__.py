"""Representations fed to the networks: normalised frame difference and steerable-pyramid phase."""

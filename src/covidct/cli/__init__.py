"""The ``covidct`` command line: thin wrappers over the library."""

"""The command line: parsing, output, exit codes; one module per command."""

"""`python -m hutch`, and the entry point of the standalone executable."""

from hutch.cli.launch import main

if __name__ == "__main__":
    main()

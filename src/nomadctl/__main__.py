from nomadctl.cli import main

main()

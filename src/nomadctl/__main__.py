from nomadctl.cli.app import main

main()

from dronectl.cli import main

main()

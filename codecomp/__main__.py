from codecomp.cli import main

main()

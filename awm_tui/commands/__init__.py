"""The `awm-tui` command line: `cli` (the console script's `main`, the app's and the headless run's arguments, and
the subcommands dispatched by name), `headless` (the headless run's printer and signal handling), one module per
subcommand (`compare`, `experiment`, `export`, `memory`, `replay`, `serve`, `watch`) and `parsing` (every command's
mistakes as one paragraph). Nothing is imported here: `awm-tui --help` stays instant."""

"""leaseboxctl: the operator's command-line tool. Each subcommand lives in its own module,
imported only when that subcommand runs."""

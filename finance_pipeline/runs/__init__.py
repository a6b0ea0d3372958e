"""Plan -> runs: the one planner (`planner`), cutting targets into runs (`specs`), executing
them in this process (`execute`), submitting them to the daemon as a backfill (`backfill`), and
finding what is stored (`stored`). The CLI, the demo and the schedules only call these."""

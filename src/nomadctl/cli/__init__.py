"""The `nomadctl` command line: the Typer app, one module per command group, option
declarations, help formatting, `nomadctl.toml` and output (tables, `--json`, progress).

`app` builds the root command and registers the commands of `up`, `down`, `certs`, `connect`
and `status`; they never import `app` back (what they share is in `context`). A command parses
its options, calls one function of the library below and renders what comes back. Only this
package imports typer, click or rich; it may import every package below it (plan, providers,
node, cluster, pki and the shared base), and imports them inside command bodies so that
`nomadctl --help` loads no boto3, paramiko or cryptography.
"""

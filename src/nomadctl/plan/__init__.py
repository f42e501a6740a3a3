"""`up` and `down` as one plan of named steps, built once, and the day-2 steps.

The same `Plan` object is what the confirmation prompt and `--dry-run` show and what runs:
`core` has the step and plan records, `options` the validated options of `up` (and the spec a
re-run keeps), `preflight` the local checks made before anything is spent, `up` the steps of
`up` (preflight, certificates, provision, node certificates, configure, leader, ACL bootstrap,
replace, scale in, summary) and their runner, `down` those of `down`; `finish` waits for a
leader and bootstraps ACLs, `report` is what the configure steps did, `words` says how each
kind of cluster's results read (providers return facts only); `scale`, `replace` and
`ca_rotation` are the day-2 steps. Steps get their hosts from a provider and never ask which
provider it is. May import providers, node, cluster, pki and the shared base; never cli.
"""

"""`up` and `down` as one plan of named steps, built once.

The same `Plan` object is what the confirmation prompt and `--dry-run` show and what runs:
`core` has the step and plan records, `options` the validated options of `up`, `up` the
steps of `up` (preflight, certificates, provision, node certificates, configure, leader, ACL
bootstrap, summary) and their runner. Providers (`nomadctl.providers`) supply the hosts; no
step asks which provider it has.
"""

# exec: an isolated command, the seed README's advice against raw_exec.
#
# The exec driver runs the binary in a chroot with its own PID namespace and cgroup, as the
# `nobody` user; raw_exec (off in nomadctl's client config) would run it as root, unisolated.
# Run: nomad job run examples/jobs/exec.nomad.hcl && nomad alloc logs -job exec-uptime

job "exec-uptime" {
  type        = "batch"
  datacenters = ["*"]

  group "report" {
    task "uptime" {
      driver = "exec"
      user   = "nobody"

      config {
        command = "/bin/sh"
        args    = ["-c", "uptime; id; cat /proc/1/cgroup"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}

# batch: a job that runs to completion instead of forever.
#
# Nomad runs each task once and marks the allocation complete when it exits 0; failed runs
# are retried by the restart and reschedule policies below.
# Run: nomad job run examples/jobs/batch.nomad.hcl && nomad job status batch-pi

job "batch-pi" {
  type        = "batch"
  datacenters = ["*"]

  group "compute" {
    count = 1

    restart {
      attempts = 2
      delay    = "10s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 1
      interval  = "1h"
      unlimited = false
    }

    task "pi" {
      driver = "docker"

      config {
        image   = "busybox:1.36"
        command = "sh"
        args    = ["-c", "echo 'scale=500; 4*a(1)' | bc -l || awk 'BEGIN { print atan2(0, -1) }'"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}

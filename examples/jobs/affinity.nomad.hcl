# affinity: prefer some nodes without requiring them.
#
# An affinity scores matching nodes higher (weight -100..100) but still places elsewhere
# when they are full; a `constraint` would refuse to. Here: prefer nodes with the metadata
# `tier = "fast"` (set with `client { meta { tier = "fast" } }`), and avoid t3.micro instances.
# Run: nomad job run examples/jobs/affinity.nomad.hcl && nomad alloc status -verbose <alloc>

job "affinity-cache" {
  type        = "service"
  datacenters = ["*"]

  group "cache" {
    count = 2

    affinity {
      attribute = "${meta.tier}"
      value     = "fast"
      weight    = 80
    }

    affinity {
      attribute = "${attr.platform.aws.instance-type}"
      value     = "t3.micro"
      weight    = -50
    }

    network {
      port "redis" {
        to = 6379
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image = "redis:7-alpine"
        ports = ["redis"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}

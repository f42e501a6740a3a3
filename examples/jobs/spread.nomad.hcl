# spread: keep instances apart, across datacenters and across nodes.
#
# With `spread`, the scheduler places allocations evenly over the values of an attribute
# instead of bin-packing them on as few nodes as possible. Here: 60/40 over two datacenters
# (start clients with `nomadctl up --datacenter ...` per group of hosts), then over nodes.
# Run: nomad job run examples/jobs/spread.nomad.hcl && nomad job status spread-web

job "spread-web" {
  type        = "service"
  datacenters = ["dc1", "dc2"]

  spread {
    attribute = "${node.datacenter}"
    weight    = 100

    target "dc1" {
      percent = 60
    }

    target "dc2" {
      percent = 40
    }
  }

  group "web" {
    count = 5

    spread {
      attribute = "${node.unique.id}"
      weight    = 50
    }

    network {
      port "http" {
        to = 80
      }
    }

    task "web" {
      driver = "docker"

      config {
        image = "traefik/whoami:v1.10"
        ports = ["http"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}

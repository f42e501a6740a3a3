# nomadctl's, not upstream's: python-nomad's CI writes this file with `nomad init` (Nomad's
# command/asset example job) before its tests; this is that job's shape, cut to what the tests
# read (job "example", type service, group "cache", task "redis"). example.json is made from it
# at test time, as `nomad run -output example.nomad` does there (parsed on the client side).
job "example" {
  datacenters = ["*"]
  type        = "service"

  group "cache" {
    count = 1

    network {
      port "db" {
        to = 6379
      }
    }

    task "redis" {
      driver = "docker"

      config {
        image          = "redis:7"
        ports          = ["db"]
        auth_soft_fail = true
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}

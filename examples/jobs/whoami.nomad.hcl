# whoami: a small web service behind Traefik (the seed's second job).
#
# A service job with two instances on dynamic ports, registered in Nomad's own service
# catalogue with routing tags that traefik.nomad.hcl reads.
# Run: nomad job run examples/jobs/whoami.nomad.hcl, then curl -H 'Host: whoami.local' http://<client>/

job "whoami" {
  type        = "service"
  datacenters = ["*"]

  group "whoami" {
    count = 2

    network {
      port "http" {
        to = 80
      }
    }

    service {
      name     = "whoami"
      provider = "nomad"
      port     = "http"
      tags = [
        "traefik.enable=true",
        "traefik.http.routers.whoami.rule=Host(`whoami.local`)",
        "traefik.http.routers.whoami.entrypoints=web",
      ]

      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "whoami" {
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

# traefik: the ingress of the seed's demo, fixed for a cluster with TLS, mTLS and ACLs.
#
# A system job (one Traefik per client) on the host network with static ports. Its Nomad
# provider talks to the API over HTTPS with a client certificate from the cluster CA and a
# token, all read from the Nomad variable nomad/jobs/traefik, never from plain http.
#
# Once, before running it (after `eval "$(nomadctl env --management)"`: policies, tokens and
# this job's variable need the management token; `nomadctl env` exports the user token):
#   nomad acl policy apply -description "Traefik service discovery" traefik-read - <<'HCL'
#   namespace "default" { policy = "read" }
#   HCL
#   nomad acl token create -name traefik -policy traefik-read -json | jq -r .SecretID > /tmp/t
#   nomad var put nomad/jobs/traefik token=@/tmp/t \
#     ca=@"$NOMAD_CACERT" cert=@"$NOMAD_CLIENT_CERT" key=@"$NOMAD_CLIENT_KEY"
#   rm /tmp/t
# Then: nomad job run examples/jobs/traefik.nomad.hcl
# Open the clients' port 80/8080 with `nomadctl up --client-port 80 --client-port 8080`.

job "traefik" {
  type        = "system"
  datacenters = ["*"]

  group "traefik" {
    network {
      mode = "host"
      port "http" {
        static = 80
      }
      port "api" {
        static = 8080
      }
    }

    service {
      name     = "traefik"
      provider = "nomad"
      port     = "http"

      check {
        type     = "http"
        path     = "/ping"
        port     = "api"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "traefik" {
      driver = "docker"

      config {
        image        = "traefik:v3.1"
        network_mode = "host"
        args = [
          "--entrypoints.web.address=:80",
          "--entrypoints.traefik.address=:8080",
          "--api.dashboard=true",
          "--api.insecure=true",
          "--ping=true",
          "--providers.nomad=true",
          "--providers.nomad.exposedByDefault=false",
          "--providers.nomad.endpoint.address=https://${attr.unique.network.ip-address}:4646",
          "--providers.nomad.endpoint.tls.ca=/secrets/ca.pem",
          "--providers.nomad.endpoint.tls.cert=/secrets/cert.pem",
          "--providers.nomad.endpoint.tls.key=/secrets/key.pem",
        ]
      }

      template {
        destination = "secrets/traefik.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/traefik" }}TRAEFIK_PROVIDERS_NOMAD_ENDPOINT_TOKEN={{ .token }}{{ end }}
        EOT
      }

      template {
        destination = "secrets/ca.pem"
        data        = "{{ with nomadVar \"nomad/jobs/traefik\" }}{{ .ca }}{{ end }}"
      }

      template {
        destination = "secrets/cert.pem"
        data        = "{{ with nomadVar \"nomad/jobs/traefik\" }}{{ .cert }}{{ end }}"
      }

      template {
        destination = "secrets/key.pem"
        perms       = "600"
        data        = "{{ with nomadVar \"nomad/jobs/traefik\" }}{{ .key }}{{ end }}"
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}

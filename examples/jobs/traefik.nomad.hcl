# traefik: the ingress of the seed's demo, fixed for a cluster with TLS, mTLS and ACLs.
#
# A system job (one Traefik per client) on the host network with static ports. Its Nomad
# provider talks to the API over HTTPS with a client certificate from the cluster CA and a
# token, all read from the Nomad variable nomad/jobs/traefik, never from plain http. The
# static configuration is one file (secrets/traefik.toml, 0600): Traefik ignores flags and
# environment variables once it has a file, and environment variables once it has flags.
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

      # Traefik reads its static configuration from ONE source: a file if it finds one, else
      # the command line, else TRAEFIK_* variables (never a mix). So everything, the token
      # included, is in the file below; the command line only names the file.
      config {
        image        = "traefik:v3.1"
        network_mode = "host"
        args         = ["--configFile=/secrets/traefik.toml"]
      }

      template {
        destination = "secrets/traefik.toml"
        perms       = "600"
        data        = <<-EOT
          [entryPoints.web]
            address = ":80"
          [entryPoints.traefik]
            address = ":8080"

          [api]
            dashboard = true
            insecure  = true

          [ping]
            entryPoint = "traefik"

          [providers.nomad]
            exposedByDefault = false
            [providers.nomad.endpoint]
              address = "https://{{ env "attr.unique.network.ip-address" }}:4646"
              {{ with nomadVar "nomad/jobs/traefik" }}token = "{{ .token }}"{{ end }}
              [providers.nomad.endpoint.tls]
                ca   = "/secrets/ca.pem"
                cert = "/secrets/cert.pem"
                key  = "/secrets/key.pem"
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

# node-pool: place a job on one pool of clients only.
#
# Node pools partition the clients; a job runs only on nodes of its pool. nomadctl puts
# clients in the pool given by `nomadctl up --node-pool NAME` (default "default").
# To try it with a pool of its own:
#   nomad node pool apply - <<'HCL'
#   node_pool "batch-workers" { description = "Clients for batch work" }
#   HCL
#   nomadctl up --node-pool batch-workers ...   # or set client.node_pool on some clients
# Run: nomad job run examples/jobs/node-pool.nomad.hcl

job "pool-report" {
  type        = "batch"
  datacenters = ["*"]
  node_pool   = "batch-workers"

  group "report" {
    task "hostname" {
      driver = "docker"

      config {
        image   = "busybox:1.36"
        command = "sh"
        args    = ["-c", "hostname; date"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}

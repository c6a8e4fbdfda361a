"""The SimPy world: CAs behind a load balancer, the replicated directory, faults, CRLs."""

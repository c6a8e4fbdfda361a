"""pkisim: simulate and verify serial-number allocation in replicated Dogtag CAs."""

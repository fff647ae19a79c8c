"""`cirrus gateway`: the hospital-side forwarder (C-STORE SCP → durable spool → STOW-RS to a Cirrus cloud)."""

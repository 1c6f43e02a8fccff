"""Per-call machinery between grpc and the servicers: the call pipeline (request id, deadline,
metrics, authentication against the policy table, error → status mapping, access log), the call
context servicers read, and the caller's address. Imports nothing from `server.servicers`.
"""

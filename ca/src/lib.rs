//! SPIFFE issuance core: X.509-SVID and JWT-SVID authorities with rotation, policy and audit, and an in-process test CA

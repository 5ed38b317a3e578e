"""API tokens: who may call the REST API, in which role, over which grids.

Secrets are shown once when issued and stored only as SHA-256 hashes; see :mod:`.hashing`.
"""

from gateway.tokens.hashing import hash_secret, new_secret
from gateway.tokens.model import Role, TokenRecord
from gateway.tokens.store import TokenStore, open_token_store

__all__ = ["Role", "TokenRecord", "TokenStore", "hash_secret", "new_secret", "open_token_store"]

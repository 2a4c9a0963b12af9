"""AES-256-GCM from pyca/cryptography (OpenSSL's, through its own bindings),
the independent implementation SecretBoxTests checks SecretBox against.

A sealed value is nonce (12 bytes) || ciphertext || tag (16 bytes), the
layout SecretBox uses; AESGCM takes and returns ciphertext || tag.

usage: aesgcm_interop.py open KEY_HEX AD_HEX SEALED_HEX   prints the plaintext as hex
       aesgcm_interop.py seal KEY_HEX AD_HEX PLAIN_HEX    prints nonce || ciphertext || tag as hex
A value that does not verify exits 1 with "InvalidTag" on stderr.
"""

import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def main(argv):
    if len(argv) != 5 or argv[1] not in ("open", "seal"):
        sys.exit(__doc__)
    action, key, ad, data = argv[1], bytes.fromhex(argv[2]), bytes.fromhex(argv[3]), bytes.fromhex(argv[4])
    if len(key) != 32:
        sys.exit(f"the key is {len(key)} bytes, not 32")
    aead = AESGCM(key)
    if action == "seal":
        nonce = os.urandom(12)
        print((nonce + aead.encrypt(nonce, data, ad)).hex())
    else:
        if len(data) < 28:
            sys.exit(f"a sealed value is at least 28 bytes, not {len(data)}")
        try:
            print(aead.decrypt(data[:12], data[12:], ad).hex())
        except InvalidTag:
            sys.exit("InvalidTag")


if __name__ == "__main__":
    main(sys.argv)

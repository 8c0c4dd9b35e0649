//! Signing a state test's transaction: the sender a secret key stands for, and the signed
//! envelope the block conversion puts in its one-transaction block.

use alloy_consensus::{SignableTransaction, Signed, TxEnvelope};
use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use k256::ecdsa::SigningKey;

/// The address of the secp256k1 key: the last 20 bytes of keccak(uncompressed public key).
pub(crate) fn address_from_secret_key(key: &B256) -> Result<Address, String> {
    let signing = SigningKey::from_slice(key.as_slice())
        .map_err(|e| format!("invalid transaction.secretKey: {e}"))?;
    let point = signing.verifying_key().to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    Ok(Address::from_slice(&hash[12..]))
}

/// The signing key of `secret` and its address, checked against the fixture's `sender`.
pub(crate) fn signer(
    secret: &B256,
    sender: Option<Address>,
) -> Result<(SigningKey, Address), String> {
    let key = SigningKey::from_slice(secret.as_slice())
        .map_err(|e| format!("invalid transaction.secretKey: {e}"))?;
    let address = address_from_secret_key(secret)?;
    match sender {
        Some(sender) if sender != address => Err(format!(
            "transaction.secretKey signs for {address}, but transaction.sender is {sender}: no \
             signed transaction comes from the fixture's sender"
        )),
        _ => Ok((key, address)),
    }
}

/// Signs `tx` with `key` (a low-`s` ECDSA signature, valid at every fork).
pub(crate) fn sign<T>(tx: T, key: &SigningKey) -> Result<TxEnvelope, String>
where
    T: SignableTransaction<Signature>,
    TxEnvelope: From<Signed<T>>,
{
    let hash = tx.signature_hash();
    let (signature, recovery) = key
        .sign_prehash_recoverable(hash.as_slice())
        .map_err(|e| format!("signing failed: {e}"))?;
    let r = U256::from_be_slice(&signature.r().to_bytes());
    let s = U256::from_be_slice(&signature.s().to_bytes());
    let signature = Signature::new(r, s, recovery.is_y_odd());
    Ok(TxEnvelope::from(tx.into_signed(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{TxEip1559, TxLegacy, transaction::SignerRecoverable};
    use alloy_primitives::{TxKind, address, b256};

    #[test]
    fn sender_from_secret_key() {
        // The well-known ethereum/tests sender.
        let key = b256!("0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8");
        assert_eq!(
            address_from_secret_key(&key).unwrap(),
            address!("0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b")
        );
        assert!(address_from_secret_key(&B256::ZERO).is_err());
    }

    #[test]
    fn signed_transactions_recover_the_test_sender() {
        let secret = b256!("0x45a915e4d060149eb4365960e6a7a45f334393093061116b197e3240065ff2d8");
        let sender = address!("0xa94f5374fce5edbc8e2a8697c15331677e6ebf0b");
        let (key, address) = signer(&secret, Some(sender)).unwrap();
        assert_eq!(address, sender);
        let legacy = TxLegacy {
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            ..Default::default()
        };
        let eip1559 = TxEip1559 {
            chain_id: 1,
            gas_limit: 21_000,
            to: TxKind::Create,
            ..Default::default()
        };
        for tx in [sign(legacy, &key).unwrap(), sign(eip1559, &key).unwrap()] {
            // `recover_signer` rejects high-`s` signatures: these are valid from Homestead on.
            assert_eq!(tx.recover_signer().unwrap(), sender);
        }
        assert!(signer(&secret, Some(Address::ZERO)).is_err());
    }
}

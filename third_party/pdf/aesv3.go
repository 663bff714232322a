package pdf

// AES-256 encryption (the standard security handler's revisions 5 and 6, crypt filter AESV3),
// added by ragmigrate; see PATCHES.md. ISO 32000-2:2020 §7.6.4.3.3 (algorithm 2.A, the file
// key) and §7.6.4.3.4 (algorithm 2.B, the revision-6 hash). Unlike revisions 2 to 4, the file
// key encrypts every object as is: no per-object key is derived (cryptKey).

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// aesV3KeyLen is the length of an AES-256 file key; revisions 2 to 4 have keys of at most 16.
const aesV3KeyLen = 32

// initEncryptV5 sets r's key from an encryption dictionary of /V 5, or fails with
// ErrInvalidPassword when password is not the file's user password.
func (r *Reader) initEncryptV5(encrypt dict, password string) error {
	R, _ := encrypt["R"].(int64)
	if R != 5 && R != 6 {
		return fmt.Errorf("unsupported PDF: encryption revision R=%d with V=5", R)
	}
	if !okayV5(encrypt) {
		return fmt.Errorf("unsupported PDF: AES-256 crypt filters %v", objfmt(encrypt))
	}
	U, _ := encrypt["U"].(string)
	UE, _ := encrypt["UE"].(string)
	perms, _ := encrypt["Perms"].(string)
	// U is a 32-byte hash, an 8-byte validation salt and an 8-byte key salt; longer values
	// are padded by some writers.
	if len(U) < 48 || len(UE) != 32 || len(perms) != 16 {
		return fmt.Errorf("malformed PDF: missing U=, UE= or Perms= AES-256 encryption parameters")
	}
	pw := []byte(password) // UTF-8; SASLprep is not applied, which changes only unusual passwords
	if len(pw) > 127 {
		pw = pw[:127]
	}
	hashFor := func(salt []byte) []byte {
		if R == 5 {
			h := sha256.Sum256(append(append([]byte{}, pw...), salt...))
			return h[:]
		}
		return hash2B(pw, salt, nil)
	}
	if !bytes.Equal(hashFor([]byte(U[32:40])), []byte(U[:32])) {
		return ErrInvalidPassword
	}
	// The file key is UE decrypted with the hash of the password and the key salt
	// (AES-256, CBC, a zero IV, no padding).
	key := []byte(UE)
	block, err := aes.NewCipher(hashFor([]byte(U[40:48])))
	if err != nil {
		return fmt.Errorf("malformed PDF: %v", err)
	}
	cipher.NewCBCDecrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(key, key)
	// Perms, decrypted with the file key, holds "adb" at bytes 9 to 11: a wrong key shows here
	// instead of as garbled text.
	block, err = aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("malformed PDF: %v", err)
	}
	p := []byte(perms)
	block.Decrypt(p, p)
	if string(p[9:12]) != "adb" {
		return fmt.Errorf("malformed PDF: AES-256 file key does not decrypt Perms")
	}
	r.key = key
	r.useAES = true
	return nil
}

// okayV5 accepts the one AES-256 layout writers produce: strings and streams both through a
// crypt filter of method AESV3.
func okayV5(encrypt dict) bool {
	cf, _ := encrypt["CF"].(dict)
	stmf, _ := encrypt["StmF"].(name)
	strf, _ := encrypt["StrF"].(name)
	if cf == nil || stmf == "" || stmf != strf {
		return false
	}
	param, _ := cf[stmf].(dict)
	return param != nil && param["CFM"] == name("AESV3")
}

// hash2B is algorithm 2.B of ISO 32000-2: at least 64 rounds of AES-128 over the repeated
// password, key and user data, each round hashed with SHA-256, -384 or -512 as the round's
// output decides.
func hash2B(password, salt, udata []byte) []byte {
	h := sha256.New()
	h.Write(password)
	h.Write(salt)
	h.Write(udata)
	k := h.Sum(nil)
	hashes := [3]func() hash.Hash{sha256.New, sha512.New384, sha512.New}
	for round := 0; ; round++ {
		var k1 []byte
		for range 64 {
			k1 = append(k1, password...)
			k1 = append(k1, k...)
			k1 = append(k1, udata...)
		}
		block, _ := aes.NewCipher(k[:16])
		e := k1 // encrypted in place; its length is a multiple of 64
		cipher.NewCBCEncrypter(block, k[16:32]).CryptBlocks(e, k1)
		// The first 16 bytes of e as a number mod 3: 256 ≡ 1 (mod 3), so the sum of the
		// bytes mod 3 is the same.
		sum := 0
		for _, c := range e[:16] {
			sum += int(c)
		}
		h := hashes[sum%3]()
		h.Write(e)
		k = h.Sum(nil)
		if round >= 63 && int(e[len(e)-1]) <= round+1-32 {
			break
		}
	}
	return k[:32]
}

import CCrypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Seals secrets kept outside the server (the cluster config topic) with AES-256-GCM.
///
/// OpenSSL's libcrypto does the cryptography (EVP, AES-256-GCM). A sealed
/// value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`; the nonce is
/// random per seal (RAND_bytes), so one key should seal well under 2^32
/// values (NIST SP 800-38D's bound for random 96-bit nonces). The associated
/// data is authenticated, not encrypted: bind a value to where it belongs
/// (the consumer's name and field, say) so that it cannot be moved elsewhere.
public struct SecretBox: Sendable {
    static let keyLength = 32
    static let nonceLength = 12
    static let tagLength = 16
    /// Key files are a line of text; anything larger is refused unread.
    static let maxKeyFileBytes = 4096
    /// Bytes handed to one EVP update call (its lengths are `int`).
    static let chunkLength = 1 << 24

    /// The key. Swift cannot guarantee it is zeroed: arrays are copied on
    /// write and released without being wiped, so copies of these bytes may
    /// stay in freed memory until reused. It is never printed (see the
    /// descriptions below) and never leaves this type.
    private let key: [UInt8]
    /// The key file it was read from, for messages (never the key).
    public private(set) var source: String?

    /// Reads a 32-byte key from a file: 64 hex characters or base64 of 32 bytes, surrounding whitespace ignored. Throws (with the path in the message) for a missing/unreadable file, a wrong length/encoding, or a file that group or others may read (mode & 0o077 != 0): like ssh, refuse keys others can read.
    public init(keyFile path: String) throws(SecretBoxError) {
        let descriptor = openReadOnly(path)
        guard descriptor >= 0 else { throw SecretBoxError("key file \(path): cannot open: \(Self.errorText(errno))") }
        defer { close(descriptor) }

        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw SecretBoxError("key file \(path): cannot stat: \(Self.errorText(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SecretBoxError("key file \(path): not a regular file") }
        let permissions = info.st_mode & 0o7777
        guard permissions & 0o077 == 0 else {
            throw SecretBoxError(
                "key file \(path): group or others may read it (mode 0\(String(permissions, radix: 8))); "
                    + "keys others can read are refused: chmod 600 \(path)")
        }

        var contents = [UInt8](repeating: 0, count: Self.maxKeyFileBytes + 1)
        defer { Self.wipe(&contents) }
        var length = 0
        while length < contents.count {
            let count = contents.withUnsafeMutableBytes { buffer in
                read(descriptor, buffer.baseAddress.map { $0 + length }, buffer.count - length)
            }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw SecretBoxError("key file \(path): cannot read: \(Self.errorText(code))")
            }
            if count == 0 { break }
            length += count
        }
        guard length <= Self.maxKeyFileBytes else {
            throw SecretBoxError("key file \(path): larger than \(Self.maxKeyFileBytes) bytes; expected 64 hex characters or base64 of 32 bytes")
        }
        var key: [UInt8]
        do {
            key = try Self.decodeKey(contents[..<length])
        } catch {
            throw SecretBoxError("key file \(path): \(error.description)")
        }
        defer { Self.wipe(&key) }
        try self.init(key: key)
        source = path
    }

    public init(key: [UInt8]) throws(SecretBoxError) {
        guard key.count == Self.keyLength else {
            throw SecretBoxError("an AES-256-GCM key is \(Self.keyLength) bytes, not \(key.count)")
        }
        self.key = key
    }

    /// A fresh random 12-byte nonce (RAND_bytes) per call; returns nonce || ciphertext || 16-byte tag.
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8]) throws(SecretBoxError) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: Self.nonceLength)
        guard RAND_bytes(&nonce, Int32(Self.nonceLength)) == 1 else {
            throw SecretBoxError("RAND_bytes failed: no random nonce to seal with")
        }
        let textLength = plaintext.count
        var sealed = [UInt8](repeating: 0, count: Self.nonceLength + textLength + Self.tagLength)
        sealed.replaceSubrange(0..<Self.nonceLength, with: nonce)
        var tag = [UInt8](repeating: 0, count: Self.tagLength)
        try Self.withContext { context throws(SecretBoxError) in
            try start(context, encrypting: true, nonce: nonce)
            try Self.update(context, encrypting: true, associatedData, output: nil)
            try sealed.withUnsafeMutableBufferPointer { output throws(SecretBoxError) in
                try Self.update(context, encrypting: true, plaintext, output: output.baseAddress.map { $0 + Self.nonceLength })
            }
            var scratch = [UInt8](repeating: 0, count: 32)
            var written: Int32 = 0
            guard EVP_EncryptFinal_ex(context, &scratch, &written) == 1, written == 0 else {
                throw SecretBoxError("AES-256-GCM: EVP_EncryptFinal_ex failed")
            }
            let got = tag.withUnsafeMutableBytes { bytes in
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagLength), bytes.baseAddress)
            }
            guard got == 1 else { throw SecretBoxError("AES-256-GCM: cannot read the tag (EVP_CTRL_GCM_GET_TAG)") }
        }
        sealed.replaceSubrange((Self.nonceLength + textLength)..., with: tag)
        return sealed
    }

    /// Throws SecretBoxError when the tag does not verify (tampered, wrong key, wrong associated data) or the input is shorter than 28 bytes.
    public func open(_ sealed: [UInt8], associatedData: [UInt8]) throws(SecretBoxError) -> [UInt8] {
        let overhead = Self.nonceLength + Self.tagLength
        guard sealed.count >= overhead else {
            throw SecretBoxError("a sealed value is at least \(overhead) bytes (nonce and tag), not \(sealed.count)")
        }
        let nonce = Array(sealed[..<Self.nonceLength])
        let ciphertext = Array(sealed[Self.nonceLength..<(sealed.count - Self.tagLength)])
        var tag = Array(sealed[(sealed.count - Self.tagLength)...])
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        let verified = try Self.withContext { context throws(SecretBoxError) -> Bool in
            try start(context, encrypting: false, nonce: nonce)
            try Self.update(context, encrypting: false, associatedData, output: nil)
            try plaintext.withUnsafeMutableBufferPointer { output throws(SecretBoxError) in
                try Self.update(context, encrypting: false, ciphertext, output: output.baseAddress)
            }
            let set = tag.withUnsafeMutableBytes { bytes in
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(Self.tagLength), bytes.baseAddress)
            }
            guard set == 1 else { throw SecretBoxError("AES-256-GCM: cannot set the tag (EVP_CTRL_GCM_SET_TAG)") }
            var scratch = [UInt8](repeating: 0, count: 32)
            var written: Int32 = 0
            // 1 only when the tag matches the key, nonce, associated data and ciphertext.
            return EVP_DecryptFinal_ex(context, &scratch, &written) == 1
        }
        guard verified else {
            Self.wipe(&plaintext)
            throw SecretBoxError("cannot open the sealed value: its tag does not verify (wrong key, wrong associated data, or altered bytes)")
        }
        return plaintext
    }

    // MARK: - EVP

    /// A cipher context for one seal or open, freed on every path.
    private static func withContext<T>(_ body: (OpaquePointer) throws(SecretBoxError) -> T) throws(SecretBoxError) -> T {
        guard let context = EVP_CIPHER_CTX_new() else { throw SecretBoxError("AES-256-GCM: EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        return try body(context)
    }

    /// AES-256-GCM with a 12-byte nonce and this key.
    private func start(_ context: OpaquePointer, encrypting: Bool, nonce: [UInt8]) throws(SecretBoxError) {
        guard let cipher = EVP_aes_256_gcm() else { throw SecretBoxError("AES-256-GCM: EVP_aes_256_gcm is not available") }
        let initialize = encrypting ? EVP_EncryptInit_ex : EVP_DecryptInit_ex
        guard initialize(context, cipher, nil, nil, nil) == 1 else {
            throw SecretBoxError("AES-256-GCM: cannot initialize the cipher")
        }
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(Self.nonceLength), nil) == 1 else {
            throw SecretBoxError("AES-256-GCM: cannot set a \(Self.nonceLength)-byte nonce (EVP_CTRL_GCM_SET_IVLEN)")
        }
        let keyed = key.withUnsafeBufferPointer { key in
            nonce.withUnsafeBufferPointer { nonce in initialize(context, nil, nil, key.baseAddress, nonce.baseAddress) }
        }
        guard keyed == 1 else { throw SecretBoxError("AES-256-GCM: cannot set the key and nonce") }
    }

    /// Feeds `input` in chunks: associated data when `output` is nil, else
    /// text, whose `input.count` bytes (GCM adds none) go to `output`.
    private static func update(
        _ context: OpaquePointer, encrypting: Bool, _ input: [UInt8], output: UnsafeMutablePointer<UInt8>?
    ) throws(SecretBoxError) {
        let update = encrypting ? EVP_EncryptUpdate : EVP_DecryptUpdate
        let failed: Bool = input.withUnsafeBufferPointer { input in
            guard let base = input.baseAddress else { return false }
            var offset = 0
            while offset < input.count {
                let count = min(chunkLength, input.count - offset)
                var written: Int32 = 0
                guard update(context, output.map { $0 + offset }, &written, base + offset, Int32(count)) == 1,
                    output == nil || written == Int32(count)
                else { return true }
                offset += count
            }
            return false
        }
        if failed {
            throw SecretBoxError("AES-256-GCM: \(encrypting ? "EVP_EncryptUpdate" : "EVP_DecryptUpdate") failed")
        }
    }

    // MARK: - Key files

    /// 64 hex characters, or base64 of 32 bytes; ASCII whitespace around either is ignored.
    static func decodeKey(_ contents: ArraySlice<UInt8>) throws(SecretBoxError) -> [UInt8] {
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        let start = contents.firstIndex { !isSpace($0) } ?? contents.endIndex
        let end = contents.lastIndex { !isSpace($0) }.map { $0 + 1 } ?? start
        var characters = Array(contents[start..<max(start, end)])
        defer { wipe(&characters) }
        if characters.isEmpty { throw SecretBoxError("empty; expected 64 hex characters or base64 of 32 bytes") }
        if characters.count == 2 * keyLength {
            var key = [UInt8]()
            key.reserveCapacity(keyLength)
            var index = 0
            while index < characters.count {
                guard let high = hexValue(characters[index]), let low = hexValue(characters[index + 1]) else {
                    throw SecretBoxError("64 characters but not all hexadecimal; expected 64 hex characters or base64 of 32 bytes")
                }
                key.append(high << 4 | low)
                index += 2
            }
            return key
        }
        guard let decoded = Data(base64Encoded: Data(characters)) else {
            throw SecretBoxError("neither 64 hex characters nor base64 of 32 bytes (\(characters.count) characters)")
        }
        guard decoded.count == keyLength else {
            throw SecretBoxError("base64 of \(decoded.count) bytes, not \(keyLength); expected 64 hex characters or base64 of 32 bytes")
        }
        return Array(decoded)
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case 0x30...0x39: return character - 0x30
        case 0x41...0x46: return character - 0x41 + 10
        case 0x61...0x66: return character - 0x61 + 10
        default: return nil
        }
    }

    /// Best effort: zeroes the array's current storage (copies elsewhere stay).
    private static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            memset(base, 0, buffer.count)
        }
    }

    private static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// Nothing about the key is ever printed or dumped.
extension SecretBox: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecretBox(AES-256-GCM)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [:]) }
}

public struct SecretBoxError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// open(2) for reading, retried on EINTR (outside SecretBox, whose `open` would shadow it).
private func openReadOnly(_ path: String) -> Int32 {
    var descriptor: Int32
    repeat {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
    } while descriptor < 0 && errno == EINTR
    return descriptor
}

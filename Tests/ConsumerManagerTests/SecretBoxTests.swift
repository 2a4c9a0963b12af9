import ConsumerManager
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

private func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

private func unhex(_ text: String) -> [UInt8] {
    let characters = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
    precondition(characters.count % 2 == 0, "odd hex: \(text)")
    return stride(from: 0, to: characters.count, by: 2).map { index in
        UInt8(String(decoding: characters[index..<index + 2], as: UTF8.self), radix: 16)!
    }
}

/// Whether `open` refuses; a refusal must be a SecretBoxError with a message.
private func refuses(_ box: SecretBox, _ sealed: [UInt8], _ associatedData: [UInt8]) -> Bool {
    do throws(SecretBoxError) {
        _ = try box.open(sealed, associatedData: associatedData)
        return false
    } catch {
        return !error.description.isEmpty
    }
}

/// The key file's error message, nil when it is accepted.
private func keyFileError(_ path: String) -> String? {
    do throws(SecretBoxError) {
        _ = try SecretBox(keyFile: path)
        return nil
    } catch {
        return error.description
    }
}

/// Writes a key file with exactly this mode (whatever the umask).
@discardableResult
private func writeKeyFile(_ directory: TemporaryDirectory, _ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
    let path = "\(directory.path)/\(name)"
    #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
    #expect(chmod(path, mode) == 0)
    return path
}

@Suite("SecretBox: AES-256-GCM through libcrypto")
struct SecretBoxTests {
    let key = randomBytes(32)
    let associatedData = Array("consumer=orders field=sink.url".utf8)

    @Test("empty, short and 1 MB plaintexts round trip as nonce || ciphertext || tag")
    func roundTrip() throws {
        let box = try SecretBox(key: key)
        for plaintext in [[], Array("hunter2".utf8), randomBytes(1 << 20)] {
            let sealed = try box.seal(plaintext, associatedData: associatedData)
            #expect(sealed.count == 12 + plaintext.count + 16)
            #expect(try box.open(sealed, associatedData: associatedData) == plaintext)
            // Encrypted, not copied: the ciphertext is not the plaintext.
            if plaintext.count >= 7 {
                #expect(Array(sealed[12..<(12 + plaintext.count)]) != plaintext)
            }
        }
        // Empty associated data is associated data too.
        let sealed = try box.seal(Array("x".utf8), associatedData: [])
        #expect(try box.open(sealed, associatedData: []) == Array("x".utf8))
        #expect(refuses(box, sealed, [0]))
    }

    @Test("a fresh nonce per seal: sealing the same plaintext twice differs")
    func freshNonces() throws {
        let box = try SecretBox(key: key)
        let plaintext = Array("the same secret".utf8)
        let first = try box.seal(plaintext, associatedData: associatedData)
        let second = try box.seal(plaintext, associatedData: associatedData)
        #expect(first != second)
        #expect(first.prefix(12) != second.prefix(12))
        var nonces = Set<[UInt8]>()
        for _ in 0..<1000 {
            nonces.insert(Array(try box.seal(plaintext, associatedData: associatedData).prefix(12)))
        }
        #expect(nonces.count == 1000)
    }

    @Test("NIST GCM test case 16 (AES-256, 96-bit IV) opens to its plaintext")
    func knownAnswer() throws {
        let box = try SecretBox(key: unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"))
        let sealed = unhex(
            "cafebabefacedbaddecaf888"
                + "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
                + "76fc6ece0f4e1768cddf8853bb2d551b")
        let associatedData = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let plaintext = try box.open(sealed, associatedData: associatedData)
        #expect(
            hex(plaintext)
                == "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    }

    @Test("any single flipped bit, in nonce, ciphertext or tag, fails to open")
    func everyBitFlipIsDetected() throws {
        let box = try SecretBox(key: key)
        let sealed = try box.seal(Array("postgres password".utf8), associatedData: associatedData)
        #expect(try box.open(sealed, associatedData: associatedData) == Array("postgres password".utf8))
        var opened: [Int] = []
        for bit in 0..<(sealed.count * 8) {
            var altered = sealed
            altered[bit / 8] ^= 1 << UInt8(bit % 8)
            if !refuses(box, altered, associatedData) { opened.append(bit) }
        }
        #expect(opened.isEmpty, "altered bits that still opened: \(opened)")
    }

    @Test("a wrong key or wrong associated data fails to open")
    func wrongKeyOrAssociatedData() throws {
        let box = try SecretBox(key: key)
        let sealed = try box.seal(Array("secret".utf8), associatedData: associatedData)
        var nearKey = key
        nearKey[31] ^= 1
        #expect(refuses(try SecretBox(key: nearKey), sealed, associatedData))
        #expect(refuses(try SecretBox(key: randomBytes(32)), sealed, associatedData))
        #expect(refuses(box, sealed, Array("consumer=orders field=kafka.sasl.password".utf8)))
        #expect(refuses(box, sealed, []))
        #expect(refuses(box, sealed, associatedData + [0]))
    }

    @Test("truncated or too short input fails to open")
    func truncated() throws {
        let box = try SecretBox(key: key)
        for length in 0..<28 {
            #expect(refuses(box, randomBytes(length), associatedData), "\(length) bytes")
        }
        let empty = try box.seal([], associatedData: associatedData)
        #expect(empty.count == 28)
        #expect(refuses(box, Array(empty.dropLast()), associatedData))
        let sealed = try box.seal(Array("a longer secret value".utf8), associatedData: associatedData)
        for cut in 1...sealed.count {
            #expect(refuses(box, Array(sealed.dropLast(cut)), associatedData), "\(cut) bytes cut off the end")
            #expect(refuses(box, Array(sealed.dropFirst(cut)), associatedData), "\(cut) bytes cut off the front")
        }
        #expect(refuses(box, sealed + [0], associatedData))
    }

    @Test("keys are exactly 32 bytes")
    func keyLength() {
        for length in [0, 16, 24, 31, 33, 64] {
            #expect(throws: SecretBoxError.self) { try SecretBox(key: randomBytes(length)) }
        }
        #expect(String(describing: try? SecretBox(key: key)).contains(hex(key)) == false)
    }

    @Test("key files: 64 hex characters or base64 of 32 bytes, whitespace around them ignored")
    func keyFilesAccepted() throws {
        let directory = try TemporaryDirectory("secretbox")
        defer { directory.remove() }
        let reference = try SecretBox(key: key)
        let base64 = Data(key).base64EncodedString()
        let files = [
            try writeKeyFile(directory, "hex", hex(key)),
            try writeKeyFile(directory, "hex-newline", hex(key) + "\n"),
            try writeKeyFile(directory, "hex-upper", "  " + hex(key).uppercased() + "\r\n"),
            try writeKeyFile(directory, "base64", base64),
            try writeKeyFile(directory, "base64-newline", base64 + "\n"),
            try writeKeyFile(directory, "read-only", hex(key) + "\n", mode: 0o400),
        ]
        for path in files {
            #expect(keyFileError(path) == nil, "\(path): \(keyFileError(path) ?? "")")
            // The same key: each opens what the other sealed.
            let box = try SecretBox(keyFile: path)
            let sealed = try box.seal(Array("from the file".utf8), associatedData: associatedData)
            #expect(try reference.open(sealed, associatedData: associatedData) == Array("from the file".utf8))
            let back = try reference.seal(Array("to the file".utf8), associatedData: associatedData)
            #expect(try box.open(back, associatedData: associatedData) == Array("to the file".utf8))
        }
    }

    @Test("key files of the wrong length or encoding are refused, naming the file")
    func keyFilesRefused() throws {
        let directory = try TemporaryDirectory("secretbox")
        defer { directory.remove() }
        let cases: [(String, String)] = [
            ("empty", ""),
            ("blank", " \n\n"),
            ("hex-31", hex(randomBytes(31))),
            ("hex-33", hex(randomBytes(33)) + "\n"),
            ("hex-bad-character", String(hex(key).dropLast()) + "g"),
            ("hex-inner-space", String(hex(key).prefix(32)) + " " + String(hex(key).suffix(32))),
            ("base64-16", Data(randomBytes(16)).base64EncodedString()),
            ("base64-48", Data(randomBytes(48)).base64EncodedString()),
            ("base64-bad-character", "!" + String(Data(key).base64EncodedString().dropFirst())),
            ("two-keys", hex(key) + "\n" + hex(key) + "\n"),
        ]
        for (name, text) in cases {
            let path = try writeKeyFile(directory, name, text)
            let error = keyFileError(path)
            #expect(error != nil, "\(name) was accepted")
            #expect(error?.contains(path) == true, "\(name): \(error ?? "")")
        }
    }

    @Test("key files group or others may read are refused, as ssh does")
    func keyFilePermissions() throws {
        let directory = try TemporaryDirectory("secretbox")
        defer { directory.remove() }
        for mode: mode_t in [0o644, 0o640, 0o604, 0o620, 0o602, 0o666] {
            let path = try writeKeyFile(directory, "key-\(String(mode, radix: 8))", hex(key) + "\n", mode: mode)
            let error = keyFileError(path)
            #expect(error?.contains(path) == true, "mode \(String(mode, radix: 8)): \(error ?? "accepted")")
            #expect(error?.contains("0\(String(mode, radix: 8))") == true, "\(error ?? "accepted")")
        }
        let path = try writeKeyFile(directory, "private", hex(key) + "\n", mode: 0o600)
        #expect(keyFileError(path) == nil)
    }

    @Test("a missing key file or a directory is refused, naming the path")
    func keyFileMissing() throws {
        let directory = try TemporaryDirectory("secretbox")
        defer { directory.remove() }
        let missing = "\(directory.path)/no-such-key"
        let error = keyFileError(missing)
        #expect(error?.contains(missing) == true, "\(error ?? "accepted")")
        #expect(chmod(directory.path, 0o700) == 0)
        #expect(keyFileError(directory.path)?.contains(directory.path) == true)
    }

    // MARK: - Interoperability with pyca/cryptography (aesgcm_interop.py)

    static let interop = "Tests/ConsumerManagerTests/aesgcm_interop.py"

    @Test("pyca/cryptography's AESGCM opens what SecretBox sealed, and refuses it under other associated data")
    func pythonOpensSwiftSeals() throws {
        let box = try SecretBox(key: key)
        for (plaintext, associatedData) in [
            ([UInt8](), self.associatedData), (Array("hunter2".utf8), []), (randomBytes(15), self.associatedData),
            (randomBytes(16), randomBytes(1)), (randomBytes(17), self.associatedData), (randomBytes(4096), randomBytes(100)),
        ] {
            let sealed = try box.seal(plaintext, associatedData: associatedData)
            let opened = try TestPython.run(script: Self.interop, ["open", hex(key), hex(associatedData), hex(sealed)])
            #expect(unhex(opened) == plaintext)
        }
        let sealed = try box.seal(Array("secret".utf8), associatedData: associatedData)
        #expect(throws: CommandFailed.self) {
            try TestPython.run(script: Self.interop, ["open", hex(key), hex(Array("elsewhere".utf8)), hex(sealed)])
        }
    }

    @Test("SecretBox opens what pyca/cryptography's AESGCM sealed, and refuses it under other associated data")
    func swiftOpensPythonSeals() throws {
        let box = try SecretBox(key: key)
        for (plaintext, associatedData) in [
            ([UInt8](), self.associatedData), (Array("hunter2".utf8), []), (randomBytes(31), self.associatedData),
            (randomBytes(4096), randomBytes(100)),
        ] {
            let sealed = unhex(try TestPython.run(script: Self.interop, ["seal", hex(key), hex(associatedData), hex(plaintext)]))
            #expect(sealed.count == 12 + plaintext.count + 16)
            #expect(try box.open(sealed, associatedData: associatedData) == plaintext)
            #expect(refuses(box, sealed, associatedData + [1]))
        }
    }
}

import Foundation
import DataModel
import Testing

@Suite("JSONSyntax: strict validation without a tree")
struct JSONSyntaxTests {
    @Test("accepts valid documents", arguments: [
        #"{}"#, #"[]"#, #"0"#, #"-0.5e+10"#, #""é ☃ 😀""#, #"{"a":[1,2,{"b":null}],"c":true,"d":false}"#,
        " \t{\"a\" : \"\\u00e9\\n\\\"\" } ", "[[[[[]]]]]", #"{"a":{}}"#, #"1E3"#,
    ])
    func valid(document: String) throws {
        try JSONSyntax.validate(Array(document.utf8))
        // Foundation agrees.
        #expect((try? JSONSerialization.jsonObject(with: Data(document.utf8), options: .fragmentsAllowed)) != nil)
    }

    @Test("rejects invalid documents with a position", arguments: [
        ("", "empty document"), ("{", "expected a string key"), ("[", "expected a value"), ("[1", "unexpected end of input"), (#"{"a" 1}"#, "expected ':'"),
        (#"{"a":1,}"#, "expected a string key"), ("[1,]", "unexpected character"), ("01", "trailing characters"),
        ("1.", "expected a digit after '.'"), ("-", "incomplete number"), ("tru", "invalid literal"),
        ("\"a\nb\"", "unescaped control character"), (#""\x""#, "invalid escape"), (#""\u12g4""#, #"invalid \u escape"#),
        (#"{"a":1} {"b":2}"#, "trailing characters"), ("[1 2]", "expected ',' or ']'"), (#"{'a':1}"#, "expected a string key"),
        ("NaN", "unexpected character"),
    ] as [(String, String)])
    func invalid(document: String, reason: String) {
        #expect {
            try JSONSyntax.validate(Array(document.utf8))
        } throws: { error in
            (error as? JSONSyntax.SyntaxError)?.reason.contains(reason) == true
        }
    }

    @Test("nesting is bounded")
    func depth() throws {
        let deep = String(repeating: "[", count: 129) + String(repeating: "]", count: 129)
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONSyntax.validate(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        try JSONSyntax.validate(Array(fine.utf8))
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONSyntax.validate(Array("[[[1]]]".utf8), maxDepth: 2) }
    }

    @Test("malformed UTF-8 inside strings is rejected", arguments: [
        [0x22, 0xC0, 0xAF, 0x22],  // overlong '/'
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-16 surrogate
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
        [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
        [0x22, 0x80, 0x22],  // lone continuation byte
    ] as [[UInt8]])
    func badUTF8(bytes: [UInt8]) {
        #expect(throws: JSONSyntax.SyntaxError.self) { try JSONSyntax.validate(bytes) }
        #expect(!UTF8Validation.isValid(Array(bytes.dropFirst().dropLast())))
    }

    @Test("line breaks between tokens are reported")
    func lineBreaks() throws {
        #expect(try JSONSyntax.validate(Array("{\n\"a\": 1\r\n}".utf8)).containsLineBreaks)
        #expect(try !JSONSyntax.validate(Array(#"{"a":"x\ny"}"#.utf8)).containsLineBreaks)
    }
}

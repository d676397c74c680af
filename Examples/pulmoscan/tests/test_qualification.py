"""Tests of the qualification service of the example: the screening head, the reference cases, the server.

Standard library only. From the repository root:

  python3 -B -m unittest discover -s Examples/pulmoscan/tests -v

The server tests run service/bin/qualify-server from a copy of the release's files in a
temporary folder, with the minimal environment `ivpack qualify` gives it, and check that it
leaves no __pycache__ behind. Not shipped: no component of ivpack.yaml names tests/.
"""
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.dont_write_bytecode = True
EXAMPLE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(EXAMPLE))

from service import __version__, screening  # noqa: E402

LABELS = EXAMPLE / "qualification" / "labels.json"


def cases():
    return json.loads(LABELS.read_text(encoding="utf-8"))["cases"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReferenceCasesTests(unittest.TestCase):
    def test_labels_file_has_the_shape_ivpack_reads(self):
        document = json.loads(LABELS.read_text(encoding="utf-8"))
        self.assertEqual(set(document), {"format", "cases"})
        self.assertEqual(document["format"], "ivpack-qualification-labels/1")
        self.assertEqual([c["id"] for c in document["cases"]], ["case-%02d" % n for n in range(1, 21)])
        for c in document["cases"]:
            self.assertEqual(set(c), {"id", "input", "expected"})
            self.assertEqual(c["input"], "qualification/cases/%s.pgm" % c["id"])
            self.assertTrue((EXAMPLE / c["input"]).is_file(), c["input"])
            self.assertIn(c["expected"], ("nodule", "clear"))
        expected = [c["expected"] for c in document["cases"]]
        self.assertEqual(expected.count("nodule"), 10)
        self.assertEqual(expected.count("clear"), 10)

    def test_every_reference_case_is_classified_correctly_with_a_margin(self):
        screener = screening.Screener()
        for c in cases():
            result = screener.classify(screening.read_pgm((EXAMPLE / c["input"]).read_bytes()))
            self.assertEqual(result.label, c["expected"], c["id"])
            # Clear margin: no score within 0.4 of the 0.5 threshold.
            if c["expected"] == "nodule":
                self.assertGreaterEqual(result.score, 0.9, c["id"])
            else:
                self.assertLessEqual(result.score, 0.1, c["id"])

    def test_classification_is_deterministic_and_fast(self):
        first, second = screening.Screener(), screening.Screener()
        started = time.perf_counter()
        for c in cases():
            data = (EXAMPLE / c["input"]).read_bytes()
            self.assertEqual(first.classify(screening.read_pgm(data)), second.classify(screening.read_pgm(data)))
        per_case_ms = (time.perf_counter() - started) * 1000 / (2 * len(cases()))
        self.assertLess(per_case_ms, 50, f"{per_case_ms:.1f} ms per case")

    def test_generators_reproduce_the_checked_in_files(self):
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
            subprocess.run([sys.executable, str(EXAMPLE / "tools" / "make_cases.py"), "--output", folder],
                           check=True, capture_output=True, env=env)
            subprocess.run([sys.executable, str(EXAMPLE / "tools" / "make_model.py"), "--output",
                            os.path.join(folder, "model.safetensors")], check=True, capture_output=True, env=env)
            for c in cases():
                made = Path(folder, "cases", c["id"] + ".pgm").read_bytes()
                self.assertEqual(made, (EXAMPLE / c["input"]).read_bytes(), c["id"])
            self.assertEqual(Path(folder, "labels.json").read_bytes(), LABELS.read_bytes())
            self.assertEqual(Path(folder, "model.safetensors").read_bytes(),
                             (EXAMPLE / "models" / "nodule-detector.safetensors").read_bytes())

    def test_malformed_images_are_rejected_not_crashed_on(self):
        good = (EXAMPLE / cases()[0]["input"]).read_bytes()
        bad = {
            "empty": b"",
            "not pgm": b"garbage",
            "ascii pgm": b"P2\n32 32\n255\n" + b"0 " * 1024,
            "magic only": b"P5",
            "header truncated": b"P5\n32 32\n",
            "raster short": good[:-1],
            "raster long": good + b"\0",
            "16-bit": b"P5\n32 32\n65535\n" + b"\0" * 2048,
            "maxval 0": b"P5\n32 32\n0\n" + b"\0" * 1024,
            "too small": b"P5\n4 4\n255\n" + b"\0" * 16,
            "too large": b"P5\n4096 4096\n255\n" + b"\0" * 16,
            "pixel over maxval": b"P5\n8 8\n10\n" + bytes([11] * 64),
            "number too long": b"P5\n" + b"9" * 50 + b" 32\n255\n",
            "no whitespace before raster": b"P5\n8 8\n255" + b"\0" * 64,
            "comment unterminated": b"P5 # no end",
        }
        for name, data in bad.items():
            with self.assertRaises(screening.ImageRejected, msg=name):
                screening.read_pgm(data)
        with_comment = b"P5\n# a comment\n8 8\n255\n" + bytes(range(64))
        self.assertEqual(screening.read_pgm(with_comment).width, 8)


class ServerTests(unittest.TestCase):
    """The qualification server, run as ivpack runs it, from a copy of the release's files."""

    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        cls.release = Path(cls.folder.name, "release")
        for part in ("service", "models", "qualification"):
            shutil.copytree(EXAMPLE / part, cls.release / part,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        cls.port = free_port()
        cls.process, _ = cls.start(["--port", str(cls.port)])

    @classmethod
    def tearDownClass(cls):
        if cls.process.poll() is None:
            cls.process.kill()
        cls.process.wait()
        cls.process.stdout.close()
        cls.process.stderr.close()
        cls.folder.cleanup()

    @classmethod
    def start(cls, arguments, env=None):
        """Starts the server in the release folder with ivpack's minimal environment, as ivpack does.

        Returns the process and the port it reports in its first line, printed once it listens.
        """
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                       "HOME": cls.folder.name, "IVPACK_RELEASE_DIR": str(cls.release),
                       "IVPACK_VERSION": __version__, **(env or {})}
        process = subprocess.Popen([str(cls.release / "service" / "bin" / "qualify-server"), *arguments],
                                   cwd=cls.release, env=environment,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = process.stdout.readline()
        if "listening on http://127.0.0.1:" not in line:
            process.kill()
            raise AssertionError(f"server did not start: {line!r} {process.stderr.read()!r}")
        return process, int(line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0])

    def request(self, method, path, body=None, headers=None, port=None):
        connection = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type"), json.loads(response.read())
        finally:
            connection.close()

    def classify(self, data, port=None):
        return self.request("POST", "/v1/classify", data, {"Content-Type": "application/octet-stream"}, port)

    def test_healthz(self):
        self.assertEqual(self.request("GET", "/healthz"), (200, "application/json",
                                                           {"status": "ok", "full_version": __version__}))

    def test_version(self):
        status, _, answer = self.request("GET", "/version")
        self.assertEqual(status, 200)
        self.assertEqual(answer["full_version"], __version__)
        self.assertEqual(answer["release_version"], "V2")
        self.assertEqual(answer["product"], "PulmoScan AI")

    def test_classify_every_reference_case(self):
        for c in cases():
            data = (EXAMPLE / c["input"]).read_bytes()
            status, kind, answer = self.classify(data)
            self.assertEqual((status, kind), (200, "application/json"), c["id"])
            self.assertEqual(set(answer), {"label", "score", "full_version", "input_sha256"})
            self.assertEqual(answer["label"], c["expected"], c["id"])
            self.assertIsInstance(answer["score"], float)
            self.assertEqual(answer["full_version"], __version__)
            self.assertEqual(answer["input_sha256"], hashlib.sha256(data).hexdigest())
            self.assertEqual(self.classify(data)[2], answer, "same input, same answer")

    def test_garbage_is_400_with_a_json_error(self):
        for body in (b"garbage", b"", b"P5\n32 32\n255\n" + b"\0" * 10):
            status, kind, answer = self.classify(body)
            self.assertEqual((status, kind), (400, "application/json"), body[:20])
            self.assertIn("error", answer)
        self.assertEqual(self.request("GET", "/healthz")[0], 200, "still serving")

    def raw_exchange(self, head: bytes) -> tuple[bytes, bytes]:
        """Sends request headers only and reads the answer until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(head)
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        status, _, body = reply.partition(b"\r\n\r\n")
        return status, body

    def test_oversized_body_announced_with_expect_continue_is_413_before_it_is_sent(self):
        status, body = self.raw_exchange(
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (2 * 1024 * 1024))
        self.assertTrue(status.startswith(b"HTTP/1.1 413 "), status)
        self.assertIn("error", json.loads(body))

    def test_huge_body_is_413_without_reading_it(self):
        status, body = self.raw_exchange(
            b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 30))
        self.assertTrue(status.startswith(b"HTTP/1.1 413 "), status)
        self.assertIn("error", json.loads(body))

    def test_missing_content_length_is_411(self):
        status, body = self.raw_exchange(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(status.startswith(b"HTTP/1.1 411 "), status)

    def test_oversized_body_sent_in_full_is_413(self):
        status, _, answer = self.classify(b"P5\n" + b"\0" * (2 * 1024 * 1024))
        self.assertEqual(status, 413)
        self.assertIn("error", answer)

    def test_other_paths_and_methods_are_json_errors(self):
        self.assertEqual(self.request("GET", "/nowhere")[:2], (404, "application/json"))
        self.assertEqual(self.request("GET", "/v1/classify")[:2], (405, "application/json"))
        self.assertEqual(self.request("DELETE", "/healthz")[:2], (501, "application/json"))

    def test_concurrent_requests_all_succeed(self):
        data = [(EXAMPLE / c["input"]).read_bytes() for c in cases()]
        expected = [c["expected"] for c in cases()]
        failures = []

        def worker(offset):
            for i in range(10):
                n = (offset + i) % len(data)
                status, _, answer = self.classify(data[n])
                if status != 200 or answer["label"] != expected[n]:
                    failures.append((n, status, answer))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])

    def test_delay_variable_slows_classification_and_sigterm_stops_the_server(self):
        # The port from the environment only, as ivpack also passes it; 0 lets the OS pick one.
        process, port = self.start([], env={"IVPACK_QUALIFY_PORT": "0", "PULMOSCAN_QUAL_DELAY_MS": "300"})
        try:
            data = (EXAMPLE / cases()[0]["input"]).read_bytes()
            self.assertEqual(self.request("GET", "/healthz", port=port)[0], 200)
            started = time.perf_counter()
            self.assertEqual(self.classify(data, port)[0], 200)
            self.assertGreaterEqual(time.perf_counter() - started, 0.3)
            started = time.perf_counter()
            self.request("GET", "/version", port=port)
            self.assertLess(time.perf_counter() - started, 0.3, "the delay applies to /v1/classify only")
            # An idle keep-alive connection must not hold the exit up.
            idle = socket.create_connection(("127.0.0.1", port))
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            idle.recv(4096)
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(timeout=5), 0)
            idle.close()
            self.assertIn("stopped", process.stdout.read())
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            process.stderr.close()

    def test_zz_sigterm_stops_the_server_and_no_pycache_is_left(self):
        # Named zz so that it runs last of this class (unittest runs tests in name order).
        self.assertIsNone(self.process.poll(), "still running before SIGTERM")
        self.process.send_signal(signal.SIGTERM)
        self.assertEqual(self.process.wait(timeout=5), 0)
        self.assertEqual(sorted(str(p) for p in self.release.rglob("__pycache__")), [])


class SelfCheckTests(unittest.TestCase):
    def test_self_check_runs_the_screening_head(self):
        from service import selfcheck

        checks = {c["name"]: c for c in selfcheck.run()["checks"]}
        self.assertTrue(checks["model-screening"]["ok"], checks["model-screening"])


if __name__ == "__main__":
    unittest.main()

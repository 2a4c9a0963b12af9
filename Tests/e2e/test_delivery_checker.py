"""The delivery checker itself: each count must catch what it names."""

import unittest

import harness  # noqa: F401 (puts Tests/support on the path)
from delivery import check


class DeliveryChecker(unittest.TestCase):
    def test_exactly_once_in_order(self):
        report = check({0: [1, 2, 3], 1: [4]}, [(0, 1), (1, 4), (0, 2), (0, 3)])
        self.assertEqual(report.summary(), {"produced": 4, "delivered": 4, "dead_lettered": 0, "lost": 0,
                                            "duplicated": 0, "reordered": 0, "unexpected": 0})

    def test_lost_duplicated_reordered_unexpected(self):
        report = check({0: [1, 2, 3, 4]}, [(0, 1), (0, 3), (0, 2), (0, 3), (0, 9), (1, 1)])
        self.assertEqual(report.lost, 1, "4 never arrived")
        self.assertEqual(report.duplicated, 1, "3 arrived twice")
        self.assertEqual(report.reordered, 1, "2 came after 3")
        self.assertEqual(report.unexpected, 2, "9 was never produced; 1 was not produced to partition 1")

    def test_dead_letters_count_as_delivered_once(self):
        report = check({0: [1, 2, 3]}, [(0, 1), (0, 3)], dead_lettered=[(0, 2)])
        self.assertEqual((report.lost, report.duplicated, report.total("dead_lettered")), (0, 0, 1))
        report = check({0: [1, 2]}, [(0, 1), (0, 2)], dead_lettered=[(0, 2)])
        self.assertEqual(report.duplicated, 1, "in the sink and in the dead-letter topic")

    def test_duplicates_per_partition(self):
        report = check({0: [1, 2], 1: [3]}, [(0, 1), (0, 2), (0, 1), (0, 2), (1, 3), (1, 3)])
        self.assertEqual(report.max_duplicated_per_partition(), 2)


if __name__ == "__main__":
    unittest.main()

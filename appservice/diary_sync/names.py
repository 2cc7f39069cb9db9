"""Room names and topics, Russian first (the seed's words), English where configured.

Templates use ``str.format`` fields: ``{title}`` (a class, «5А») and ``{grade}`` («5»).
Changing the language renames the rooms on the next sync.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoomNames:
    space_topic: str
    announcements: str
    announcements_topic: str
    staff: str
    staff_topic: str
    school_parents: str
    school_parents_topic: str
    class_room: str
    class_topic: str
    class_parents: str
    class_parents_topic: str
    grade_parents: str
    grade_parents_topic: str
    moderation: str = "Модерация"
    moderation_topic: str = (
        "Жалобы на сообщения в чатах школы: только администрация. "
        "Команды: !удалить N, !предупредить N, !заглушить N, !исключить N"
    )
    archive_space: str = "Архив"
    archive_space_topic: str = "Чаты выпустившихся классов: только чтение, для администрации"
    archived: str = "{name} (архив)"
    archived_topic: str = "Архив: класс выпустился, писать сюда нельзя. {topic}"
    network_staff: str = "Сеть учителей: {school}"
    network_staff_topic: str = (
        "Учителя школы «{school}» в сети учителей региона: совместная и методическая работа"
    )


RU = RoomNames(
    space_topic="Пространство школы: чаты классов, родителей и учителей",
    announcements="Объявления",
    announcements_topic="Объявления школы для всех. Писать могут только учителя и администрация.",
    staff="Учительская",
    staff_topic="Чат учителей и администрации школы",
    school_parents="Родители — вся школа",
    school_parents_topic="Общешкольные родительские собрания и объявления для родителей",
    class_room="{title} — класс",
    class_topic="Чат класса {title}: ученики, классный руководитель и учителя-предметники",
    class_parents="{title} — родители",
    class_parents_topic="Чат родителей класса {title} и классного руководителя",
    grade_parents="Родители {grade}-х классов",
    grade_parents_topic="Собрания и объявления для родителей параллели {grade}-х классов",
)

EN = RoomNames(
    space_topic="The school's space: class, parents' and staff chats",
    announcements="Announcements",
    announcements_topic="School announcements for everybody. Only staff post.",
    staff="Staff room",
    staff_topic="The chat of the school's teachers and administration",
    school_parents="Parents — whole school",
    school_parents_topic="School-wide parents' meetings and announcements",
    class_room="{title} — class",
    class_topic="Class {title}: students, class teacher and subject teachers",
    class_parents="{title} — parents",
    class_parents_topic="Parents of class {title} and the class teacher",
    grade_parents="Parents of grade {grade}",
    grade_parents_topic="Meetings and announcements for parents of grade {grade}",
    moderation="Moderation",
    moderation_topic=(
        "Reports of messages in the school's chats: administration only. "
        "Commands: !удалить N, !предупредить N, !заглушить N, !исключить N"
    ),
    network_staff="Teachers' network: {school}",
    network_staff_topic=(
        "Teachers of «{school}» in the region's network: joint and methodology work"
    ),
    archived="{name} (archive)",
    archived_topic="Archive: the class has left the school; read-only. {topic}",
    archive_space="Archive",
    archive_space_topic="Chats of classes that have left: read-only, for the administration",
)

BY_LANGUAGE = {"ru": RU, "en": EN}

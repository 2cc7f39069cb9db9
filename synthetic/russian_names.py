"""Russian names for the synthetic school: surnames with their feminine forms,
given names, patronymics, and the passport (2013) transliteration for logins."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES = _words(
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров "
    "Морозов Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев "
    "Орлов Андреев Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев "
    "Григорьев Романов Воробьёв Сергеев Кузьмин Фролов Александров Дмитриев Королёв "
    "Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв Белов Медведев "
    "Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов "
    "Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов "
    "Власов Мельников Денисов Островский Вишневский Покровский Успенский Троицкий "
    "Шевченко Руденко Толстой"
)
FATHER_NAMES = _words(
    "Александр Алексей Андрей Антон Артём Борис Вадим Валерий Василий Виктор "
    "Владимир Владислав Геннадий Георгий Глеб Григорий Денис Дмитрий Евгений Егор "
    "Иван Игорь Илья Кирилл Константин Максим Матвей Михаил Никита Николай Олег "
    "Павел Пётр Роман Руслан Сергей Станислав Степан Тимофей Фёдор Юрий Ярослав"
)
BOYS = (*FATHER_NAMES, *_words("Лев Марк Даниил Арсений Тимур Богдан Савелий Захар"))
WOMEN = _words(
    "Анна Мария Елена Ольга Татьяна Наталья Ирина Светлана Екатерина Юлия Анастасия "
    "Дарья Марина Людмила Галина Надежда Валентина Алёна Кристина Вероника Оксана"
)
GIRLS = _words(
    "Анна Мария София Анастасия Дарья Полина Алиса Виктория Ксения Варвара "
    "Александра Вероника Елизавета Арина Милана Ева Василиса Ульяна Таисия Валерия "
    "Кира Злата"
)
_PATRONYMIC_STEMS = {
    "Дмитрий": "Дмитриев",
    "Георгий": "Георгиев",
    "Геннадий": "Геннадьев",
    "Валерий": "Валерьев",
    "Василий": "Васильев",
    "Григорий": "Григорьев",
    "Евгений": "Евгеньев",
    "Юрий": "Юрьев",
    "Пётр": "Петров",
}
_PATRONYMIC_WHOLE = {"Илья": ("Ильич", "Ильинична"), "Никита": ("Никитич", "Никитична")}
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        _words("a b v g d e e zh z i i k l m n o p r s t u f kh ts ch sh shch ie y - e iu ia"),
        strict=True,
    )
)


def female_surname(surname: str) -> str:
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    if surname.endswith(("ий", "ой")):
        return surname[:-2] + "ая"
    return surname


def patronymic(father: str, female: bool) -> str:
    if father in _PATRONYMIC_WHOLE:
        return _PATRONYMIC_WHOLE[father][female]
    stem = _PATRONYMIC_STEMS.get(father)
    if stem is None:
        stem = father[:-1] + "ев" if father.endswith(("й", "ь")) else father + "ов"
    return stem + ("на" if female else "ич")


def transliterate(text: str) -> str:
    return "".join(_TRANSLIT.get(char, char) for char in text.lower()).replace("-", "")
